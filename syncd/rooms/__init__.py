"""Room allocation: pure rules, no I/O (the store applies the plans)."""

from syncd.rooms.allocator import allocate, fcfs_allocate, reallocate
from syncd.rooms.capacity import in_person_capacity
from syncd.rooms.model import BOOKING_PREFERENCES, Preferences
from syncd.rooms.rules import suitable_rooms

__all__ = [
    "BOOKING_PREFERENCES",
    "Preferences",
    "allocate",
    "fcfs_allocate",
    "in_person_capacity",
    "reallocate",
    "suitable_rooms",
]
