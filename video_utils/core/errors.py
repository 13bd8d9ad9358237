"""Error types shared by the planners, the nodes and the CLI, and how a value is shown in one."""


class PlanError(ValueError):
    """Bad user input to a travel or join plan.

    The message always names the input, the value that was given and how to fix it, so nodes can
    show it as is and the CLI can print it as one line.
    """


def brief(value) -> str:
    """``value`` as an error message shows it: its ``repr``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
