"""`Record`: the base of elfkit's small data classes (ElfHeader, Section, Segment, Note, ...).

What `@dataclass(slots=True)` gave them -- a field-by-field `__repr__` and `__eq__` -- without
importing `dataclasses` (and with it `inspect`, `ast`, `dis`) or exec'ing generated methods per
class: both cost start-up on every `elfkit inspect`. A subclass lists its fields, in order, as
`__slots__` (a tuple) and writes its own `__init__`.

`cached_property`: functools.cached_property without functools (whose import, with `types`
and the rest it pulls in, is ~8 M instructions, a tenth of an `inspect --all` run's, callgrind)
and without its per-instance lock (3.11); the value goes into the instance's `__dict__`, which
shadows the descriptor from then on.

`TupleRecord`: a collections.namedtuple written out (Symbol, Relocation): importing
collections costs ~4 M instructions of each inspect, and namedtuple execs generated code per
class. Fields read through the C `_tuplegetter` namedtuple itself uses.
"""
from __future__ import annotations

try:
    from _collections import _tuplegetter              # what namedtuple's fields are
except ImportError:                                    # (another Python: the same, slower)
    from operator import itemgetter as _itemgetter

    def _tuplegetter(index, doc):
        return property(_itemgetter(index), doc=doc)


class Record:
    __slots__ = ()

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __repr__(self) -> str:
        fields = ", ".join([f"{name}={getattr(self, name)!r}" for name in self.__slots__])
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    # Defining __eq__ leaves __hash__ None (unhashable), as a dataclass's. The frozen ones
    # (ElfHeader, check's Machine) were hashable by value: they set `__hash__ = Record._hash`.
    def _hash(self) -> int:
        return hash(self._values())


class cached_property:
    """A method computed on first access, then an ordinary instance attribute (`del` forgets)."""

    def __init__(self, func):
        self.func = func
        self.attrname = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name):
        self.attrname = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value


class TupleRecord(tuple):
    """A tuple with named fields: a subclass lists them in `_fields`; `Sub(a, b, ...)` or
    `tuple.__new__(Sub, iterable)` makes one, and it equals the plain tuple of its values."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for index, name in enumerate(cls._fields):
            setattr(cls, name, _tuplegetter(index, f"field {index}: {name}"))

    def __new__(cls, *values):
        if len(values) != len(cls._fields):
            raise TypeError(f"{cls.__name__} takes {len(cls._fields)} fields, "
                            f"got {len(values)}")
        return tuple.__new__(cls, values)

    def __getnewargs__(self):
        return tuple(self)

    def __repr__(self) -> str:
        fields = ", ".join([f"{name}={value!r}" for name, value in zip(self._fields, self)])
        return f"{type(self).__qualname__}({fields})"
