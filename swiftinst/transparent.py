# Copyright (c) 2026 The swiftinst authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#    http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
# implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Keeping the filter's own frames out of Swift's tracebacks.

Swift and eventlet answer an unexpected exception with a 500 whose body is
its traceback.  An exception on its way through one of our wrappers picks
up the wrapper's frame, and that response would no longer be the one a
bare server sends.  So every wrapper that lets Swift's exceptions pass
does so as::

    except BaseException as exc:
        drop_own_frame(exc)
        raise

A bare ``raise`` re-raises with the exception's ``__traceback__`` and, from
Python 3.11, adds no entry for the frame it runs in.  On older Pythons the
frame stays in the traceback; nothing else changes.
"""


def drop_own_frame(exc):
    """Remove the innermost caller's frame (the head of ``exc``'s
    traceback), unless the exception was raised in that frame itself.
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        exc.__traceback__ = tb.tb_next
