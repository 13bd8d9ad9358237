"""Error types shared by the planners, the nodes and the CLI."""


class PlanError(ValueError):
    """Bad user input to a travel or join plan.

    The message always names the input, the value that was given and how to fix it, so nodes can
    show it as is and the CLI can print it as one line.
    """
