"""The WUTS backend: groups and communities through WUTS, a multi-tenant linked-device WhatsApp gateway.

:class:`WutsClient` shares the Graph client's transport, retry policy, errors and bulk machinery, and adds
what a linked device can do: promote and demote admins, add members directly, and manage communities.
``wa_groups.testing.FakeWutsAPI`` is a stateful fake of the same endpoints.
"""

from ._protocol import EPHEMERAL_DURATIONS
from .client import WutsClient
from .errors import validation_errors
from .ids import normalise_participant
from .models import (
    Community,
    FieldError,
    Group,
    GroupParticipant,
    InviteLink,
    JoinResult,
    MemberAddMode,
    ParticipantAction,
    ParticipantsResult,
)

__all__ = [
    "EPHEMERAL_DURATIONS",
    "Community",
    "FieldError",
    "Group",
    "GroupParticipant",
    "InviteLink",
    "JoinResult",
    "MemberAddMode",
    "ParticipantAction",
    "ParticipantsResult",
    "WutsClient",
    "normalise_participant",
    "validation_errors",
]
