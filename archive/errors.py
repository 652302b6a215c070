"""One root for every error ccnews shows a user as one line (Kingfisher Collect's exceptions.py)."""


class CcnewsError(Exception):
    """A problem the user can act on, shown as one line; anything else is a bug in ccnews."""


class ArchiveError(CcnewsError):
    """A problem with the archive file."""


class ArchiveFull(ArchiveError):
    """The disk (or the file system's quota) holding the archive is full."""


class ServiceFileError(CcnewsError):
    """A value cannot be written safely into a crontab line or a systemd unit."""
