"""The original queue orchestrator's payloads (``orchestrator_details``) as Segue plans:
``payload_plan`` converts a travel or join payload into a plan file's object, with a warning for
every field Segue cannot honour as the original did (``payloads`` says what carries over).
Depends on the core only; plan files (``runs.plan_files``) read payloads through it."""

from .payloads import is_orchestrator_payload, payload_plan

__all__ = ["is_orchestrator_payload", "payload_plan"]
