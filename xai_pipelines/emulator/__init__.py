"""A local xAI API on loopback: the test double, the `--local` backend and `xai-run serve`.

Example::

    from xai_pipelines.emulator import Emulator, EmulatorConfig, FaultConfig

    with Emulator(EmulatorConfig(faults=FaultConfig(unavailable_rate=0.1))) as emu:
        print(emu.address, emu.http_url, emu.api_key)
"""

from xai_pipelines.emulator.config import EmulatorConfig, FaultConfig
from xai_pipelines.emulator.scripted import ScriptError
from xai_pipelines.emulator.server import Emulator
from xai_pipelines.emulator.stats import EmulatorStats

__all__ = ["Emulator", "EmulatorConfig", "EmulatorStats", "FaultConfig", "ScriptError"]
