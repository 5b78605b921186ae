"""The seven measurements. Each prints its own tables; none compares a number with a target.

One module per section (ttft, concurrency, long, memory, cold, replicas, transport); common holds what they share.
"""

from bench.sections.cold import section_cold
from bench.sections.common import QUICK, Bench, Sizes
from bench.sections.concurrency import section_concurrency
from bench.sections.long import section_long
from bench.sections.memory import section_memory
from bench.sections.replicas import section_replicas
from bench.sections.transport import section_transport, unpack
from bench.sections.ttft import section_ttft

__all__ = [
    "QUICK",
    "Bench",
    "Sizes",
    "section_cold",
    "section_concurrency",
    "section_long",
    "section_memory",
    "section_replicas",
    "section_transport",
    "section_ttft",
    "unpack",
]
