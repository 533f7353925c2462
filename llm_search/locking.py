"""Objects that hold a lock yet must pickle (Ray Tune copies searchers and their backends).

Example:
    >>> import threading
    >>> class Counter(PicklableLock):
    ...     def __init__(self):
    ...         self._lock, self.count = threading.Lock(), 3
    >>> state = Counter().__getstate__()
    >>> state
    {'count': 3}
    >>> restored = Counter.__new__(Counter); restored.__setstate__(state)
    >>> restored.count, restored._lock.acquire()
    (3, True)
"""

from __future__ import annotations

import threading


class PicklableLock:
    """Mixin: ``self._lock`` is left out of the pickled state and made anew when unpickled."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
