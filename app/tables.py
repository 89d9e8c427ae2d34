"""Every tenant table class, in one list: the tenant migration track is built from it."""

from __future__ import annotations

from piccolo.table import Table

from app.audit import AuditEvent
from app.billing.tables import (
    BillingRun,
    BillingSettings,
    Invoice,
    InvoiceLine,
    NumberCounter,
    Payment,
    PaymentAllocation,
    SuspensionExemption,
)
from app.gateways.tables import (
    Gateway,
    GatewayAck,
    GatewayCommand,
    GatewayEnrollmentToken,
    GatewaySample,
    GatewaySite,
    GatewaySiteSet,
    SubscriberUsage,
)
from app.idempotency import IdempotencyRecord
from app.identity.passkeys.tables import StaffPasskey
from app.identity.tables import ApiToken, PasswordReset, StaffInvitation, StaffUser
from app.netstate.tables import NetstateChange, NetstateVersion
from app.network.tables import AccessPoint, Site
from app.plans.tables import RatePlan
from app.subscribers.tables import (
    PlanChange,
    Subscriber,
    SubscriberAccount,
    SubscriberStatusChange,
)
from app.workorders.tables import WorkOrder, WorkOrderNote, WorkOrderPhoto, WorkOrderTransition

TENANT_TABLES: list[type[Table]] = [
    AuditEvent,
    IdempotencyRecord,
    StaffUser,
    StaffPasskey,
    StaffInvitation,
    PasswordReset,
    ApiToken,
    BillingSettings,
    NumberCounter,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    BillingRun,
    SuspensionExemption,
    RatePlan,
    Site,
    AccessPoint,
    Subscriber,
    SubscriberStatusChange,
    PlanChange,
    SubscriberAccount,
    WorkOrder,
    WorkOrderTransition,
    WorkOrderNote,
    WorkOrderPhoto,
    NetstateChange,
    NetstateVersion,
    Gateway,
    GatewayEnrollmentToken,
    GatewaySite,
    GatewaySiteSet,
    GatewayAck,
    GatewayCommand,
    GatewaySample,
    SubscriberUsage,
]
