"""The desired network state: what the gateways must enforce for each subscriber, and where.

Writes go through `record`, called inside the action's tenant scope whenever something a gateway
enforces changes (activation, suspension, resumption, a plan change taking effect, cancellation,
a new CPE MAC), through `follow` when subscribers move to another site, and through `mint` when
what a gateway holds changes with no subscriber's state (its sites). Reads go through
`current_state`. See `app/netstate/state.py`.
"""

from app.netstate.state import (
    REASONS,
    VERSION,
    NetEntry,
    NetState,
    channel,
    current_state,
    follow,
    held,
    mint,
    record,
)

__all__ = [
    "REASONS",
    "VERSION",
    "NetEntry",
    "NetState",
    "channel",
    "current_state",
    "follow",
    "held",
    "mint",
    "record",
]
