"""The one exception type for failures a user can cause and fix."""


class UserError(Exception):
    """A problem the user can fix (bad config, bad archive, no network...).

    The message says what is wrong and what to do; the command line prints it
    alone, without a traceback, and exits with status 1.
    """
