"""One bounded cache for everything the explorer keeps between updates (inputs, loaded files,
running statistics, input statistics): the entries used last, at most `limit` of them."""

from __future__ import annotations

from collections import OrderedDict


class LRU:
    """A mapping that keeps the `limit` entries used most recently (also the `moments_cache` dict
    kernels.normalize reads and fills: `in`, [] and []= are all it uses)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: OrderedDict = OrderedDict()

    def get(self, key, make):
        """The entry for key, made by make() when missing (the oldest entry then goes)."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self.put(key, value)
        return value

    def put(self, key, value):
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def __getitem__(self, key):
        self._items.move_to_end(key)
        return self._items[key]

    __setitem__ = put

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
