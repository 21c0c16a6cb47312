"""An ``AbstractUser`` subclass under another name, as most real sites have:
its ``groups`` through table names its key ``member_id``."""
