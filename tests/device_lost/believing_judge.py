"""drillpe's judge process, believing a lost device on the CPU (as it does on
CUDA), so that tests/test_device_lost.py can see what a learner on a GPU sees."""

from drillpe.grading import judge
from drillpe.launch import lifeline

judge.lost_believable = lambda device: True
lifeline.tie()
raise SystemExit(judge.main())
