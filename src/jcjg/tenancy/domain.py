"""The tenancy domain: the institution every institution-scoped row belongs to."""

from jcjg.core.domains import Domain
from jcjg.tenancy import models

DOMAIN = Domain(name="tenancy", title="检测机构", models=(models,))
