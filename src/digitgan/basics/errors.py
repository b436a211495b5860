"""The one exception type that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

import errno


class UserError(Exception):
    """Bad input the user can fix: a missing or corrupt file, a bad flag value, a wrong folder.

    The message is one line that names the problem and the fix. The CLI prints it as
    ``digitgan: error: <message>`` on stderr and exits with status 2, before anything is
    written; the Python API raises it with the same message.

    >>> import digitgan
    >>> try:
    ...     digitgan.load("cdcgan").sample(4, digit=12)
    ... except digitgan.UserError as error:
    ...     print(error)
    the digit must be a whole number 0-9, got 12
    """


# What the user can do about a failed write, by its cause.
_WRITE_FIXES = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EFBIG: "the system limits the size of a file: raise the limit (ulimit -f) or write elsewhere",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.EROFS: "choose a folder on a writable disk",
}


def write_error(path, exc: OSError) -> UserError:
    """A failed write (a full disk, a file-size limit, no permission) as one line naming the
    file, the cause as the system says it, and the fix for that cause."""
    reason = exc.strerror or type(exc).__name__
    fix = _WRITE_FIXES.get(exc.errno, "choose another --out or --outdir")
    return UserError(f"cannot write {path} ({reason}); {fix}")
