import strawberry

from db.models import Role as RoleModel

Role = strawberry.enum(RoleModel, name="Role", description="Staff and API-key roles, strongest first.")
