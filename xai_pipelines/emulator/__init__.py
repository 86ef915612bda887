"""A local xAI API on loopback: the test double, the `--local` backend and `xai-run serve`.

Example::

    from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig

    with Emulator(EmulatorConfig(faults=FaultConfig(unavailable_rate=0.1))) as emu:
        print(emu.address, emu.http_url, emu.api_key)
"""

import typing

from xai_pipelines import _lazy

if typing.TYPE_CHECKING:
    from xai_pipelines.emulator.config import EmulatorConfig, FaultConfig
    from xai_pipelines.emulator.scripted import ScriptError
    from xai_pipelines.emulator.server import Emulator
    from xai_pipelines.emulator.stats import EmulatorStats
else:  # imported on first use (the CLI's option types need config.py alone): see xai_pipelines._lazy
    __getattr__, __dir__ = _lazy.exports(__name__)

__all__ = ["Emulator", "EmulatorConfig", "EmulatorStats", "FaultConfig", "ScriptError"]
