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

"""swiftinst: instrumentation middleware for the OpenStack Swift object server.

The filter answers the question an operator asks when object-server PUTs
slow down: is the time going to the client, to the event loop or to the
disk?  See README.rst for how to enable it.
"""

__version__ = '0.3.0'

from swiftinst import compiled as _compiled

_compiled.choose()
