"""The desired network state: what the gateways must enforce for each subscriber.

Writes go through `record`, called inside the action's tenant scope whenever something a gateway
enforces changes (activation, suspension, resumption, a plan change taking effect, cancellation,
a new CPE MAC). Reads go through `current_state`. See `app/netstate/state.py`.
"""

from app.netstate.state import (
    REASONS,
    NetEntry,
    NetState,
    channel,
    current_state,
    record,
)

__all__ = ["REASONS", "NetEntry", "NetState", "channel", "current_state", "record"]
