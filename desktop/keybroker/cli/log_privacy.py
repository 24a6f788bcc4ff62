# SPDX-License-Identifier: Apache-2.0
"""Keeps what libraries log from carrying request data into Keybroker's log file and stderr.

Keybroker's own loggers (`keybroker.*`) log names and ids only. Libraries do not promise that: a2a-sdk
logs a failed request's validation error with its traceback, whose pydantic message quotes the request
body (`input_value={... 'secret': ...}`); httpx logs request URLs, query-string API keys included;
"%s"-style arguments are often the offending input. So a library's record keeps its logger name, level,
message template and exception type, and loses the rest: its arguments, its traceback and its stack.

A plain object with `filter` (what `logging.Filterer` accepts), so importing this module does not load
logging before the arguments are parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

#: The longest library message kept (an f-string message may hold data; templates are short).
MAX_LIBRARY_MESSAGE = 300
OWN_PREFIX = "keybroker"


class LibraryRecordFilter:
    """Strips a library's log record down to what cannot carry a value (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always True: the record is changed in place, never dropped."""
        if record.name == OWN_PREFIX or record.name.startswith(OWN_PREFIX + "."):
            return True
        template = str(record.msg)
        if len(template) > MAX_LIBRARY_MESSAGE:
            template = template[:MAX_LIBRARY_MESSAGE] + " [cut]"
        if record.args:
            template += " [arguments withheld]"
        if record.exc_info and record.exc_info[0] is not None:
            template += f" [{record.exc_info[0].__name__}; traceback withheld]"
        record.msg = template  # with no arguments, getMessage() does no %-formatting
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
