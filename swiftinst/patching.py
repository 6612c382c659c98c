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

"""Hooks put into Swift's modules and classes, and taken out again.

diskfile_hooks and server_hooks replace attributes of ``swift.obj``'s
modules and classes, once per process.  A ``Patches`` remembers each
original, so that ``restore()`` puts Swift back exactly as it was; a
hook point that some Swift release does not have is reported to the
caller and left alone.
"""


class Globals(object):
    """A function's module globals, as something Patches can patch."""

    def __init__(self, namespace):
        self.namespace = namespace

    def __getattr__(self, name):
        try:
            return self.namespace[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        if name == 'namespace':
            object.__setattr__(self, name, value)
        else:
            self.namespace[name] = value


class Patches(object):
    """The attributes a hooks module replaced, with their originals."""

    def __init__(self):
        # (owner, attribute name) -> original value
        self._originals = {}

    def __bool__(self):
        return bool(self._originals)

    def replace(self, owner, name, new):
        """Set ``owner.name`` to ``new``; a class's own attribute (its
        ``__dict__`` entry: a staticmethod stays one) is what is kept.
        """
        self._originals[(owner, name)] = owner.__dict__[name] \
            if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, new)

    def wrap_methods(self, module, table):
        """For each ``(class name, attribute, factory)`` of ``table``,
        replace the class's attribute with ``factory(attribute)``.  An
        attribute may be a tuple of names, the first the class has
        winning: what one Swift release calls another did otherwise.
        Returns the ``Class.attribute`` names ``module`` does not have.
        """
        missing = []
        for class_name, names, factory in table:
            cls = getattr(module, class_name, None)
            names = (names,) if isinstance(names, str) else names
            found = [name for name in names
                     if cls is not None and name in cls.__dict__]
            if not found:
                missing.append('%s.%s' % (class_name, ' or '.join(names)))
                continue
            self.replace(cls, found[0], factory(cls.__dict__[found[0]]))
        return missing

    def has_globals(self, namespace):
        """Whether a Globals of ``namespace`` was patched already."""
        return any(isinstance(owner, Globals) and owner.namespace is namespace
                   for owner, _ in self._originals)

    def restore(self):
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals.clear()
