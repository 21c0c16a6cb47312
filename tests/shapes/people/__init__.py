"""An ``AbstractBaseUser`` without ``PermissionsMixin``: email login, a UUID
primary key, no ``groups`` and no ``is_staff`` column (it is a property, as in
Django's own "full example" of a custom user model)."""
