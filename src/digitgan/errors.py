"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input the user can fix: a missing or corrupt file, a bad flag value, a wrong folder.

    The message is one line that names the problem and the fix. The CLI prints it as
    ``digitgan: error: <message>`` and exits with status 2, before anything is written.
    """


def write_error(path, exc: OSError) -> UserError:
    """A failed write (a full disk, a file-size limit, no permission) as one line naming the
    file and the fix."""
    reason = exc.strerror or type(exc).__name__
    return UserError(f"cannot write {path} ({reason}); free some space or choose another --outdir / --out")
