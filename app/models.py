"""Import every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from app.audit.models import AuditEvent
from app.auth.models import (
    Guardian,
    OidcLoginRequest,
    RecoveryCode,
    SetPasswordLink,
    SignInThrottle,
    StaffRole,
    StaffUser,
    UserSession,
)
from app.db import Base
from app.deliveries.models import Delivery, DeliveryKind
from app.downloads.models import Bundle, BundleItem, DownloadLink, DownloadSuspension
from app.families.models import Invitation
from app.guard.models import GuardAlert, GuardHold, GuardHousehold, GuardStepUp
from app.investigate.models import Investigation
from app.mail.models import OutgoingMail
from app.orders.models import (
    CartItem,
    Entitlement,
    Order,
    OrderItem,
    PaymentEvent,
    Price,
    PriceList,
)
from app.photos.models import (
    Album,
    Event,
    Photo,
    PhotoFeatures,
    PhotoStatus,
    event_classrooms,
    event_photographers,
)
from app.schools.models import Classroom, Enrolment, Family, School, Student
from app.studio.models import ApiToken, PhotoDeletion

__all__ = [
    "Album",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Bundle",
    "BundleItem",
    "CartItem",
    "Classroom",
    "Delivery",
    "DeliveryKind",
    "DownloadLink",
    "DownloadSuspension",
    "Enrolment",
    "Entitlement",
    "Event",
    "Family",
    "GuardAlert",
    "GuardHold",
    "GuardHousehold",
    "GuardStepUp",
    "Guardian",
    "Investigation",
    "Invitation",
    "OidcLoginRequest",
    "Order",
    "OrderItem",
    "OutgoingMail",
    "PaymentEvent",
    "Photo",
    "PhotoDeletion",
    "PhotoFeatures",
    "PhotoStatus",
    "Price",
    "PriceList",
    "RecoveryCode",
    "School",
    "SetPasswordLink",
    "SignInThrottle",
    "StaffRole",
    "StaffUser",
    "Student",
    "UserSession",
    "event_classrooms",
    "event_photographers",
]
