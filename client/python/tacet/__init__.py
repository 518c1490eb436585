# SPDX-License-Identifier: Apache-2.0
"""tacet: a Python controller for tacetd, protocol v1 (spec/PROTOCOL.md).

Blocking API (this module): `connect`, `Client`, `Process`, `Output`,
`Group`. Asyncio API: `tacet.aio` (`connect`, `AsyncClient`,
`AsyncProcess`, `AsyncOutput`, `AsyncGroup`). Both run the same
sans-I/O protocol core, `tacet.protocol`. Records are dataclasses in
`tacet.types`; exceptions in `tacet.errors`.
"""

from . import aio, errors, files, protocol, types
from .files import Progress, TransferResult
from .aio import AsyncFollower, ClockEstimate, Completed, GroupError, GroupResult, build_start_args
from .blocking import (Client, Follower, Group, Output, Process, Samples, SyncStart, connect,
                       follow)
from .errors import (AlreadyExists, BadArgs, ConnectionLost, DaemonTimeout, InternalError,
                     LimitExceeded, NotFound, OutputGap, PermissionDenied, ProtocolError,
                     ShuttingDown, SpawnFailed, TacetError, Unauthenticated, Unsupported,
                     WrongState)
from .types import (RLIM_INFINITY, CgroupSpec, EnvSpec, Exit, Failed, Gap, HostInfo, Out,
                    OutSpec, ProcInfo, ReadResult, Rlimit, Rusage, Sample, StartArgs,
                    StartResult, StdinSpec, Times)

__version__ = "0.1.0"

STDOUT, STDERR, TERMINAL = 1, 2, 3
NEW_BYTES_ONLY = (1 << 64) - 1

__all__ = [n for n in dir() if not n.startswith("_")]
