"""The original queue orchestrator's payloads (``orchestrator_details``) as Segue runs:
``from_orchestrator_payload`` converts a travel or join payload, with a warning for every field
Segue cannot honour as the original did (``payloads`` says what carries over)."""

from .payloads import from_orchestrator_payload, is_orchestrator_payload

__all__ = ["from_orchestrator_payload", "is_orchestrator_payload"]
