"""SQLAlchemy models, one module per aggregate."""

from db.models.audit import AuditEntry
from db.models.base import Base
from db.models.organization import ApiKey, Organization, Role, StaffUser

__all__ = ["ApiKey", "AuditEntry", "Base", "Organization", "Role", "StaffUser"]
