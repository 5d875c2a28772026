"""drillpe's judge process, believing a lost device on the CPU (as it does on
CUDA), so that tests/test_device_lost.py can see what a learner on a GPU sees."""

from drillpe.grading import judge
from drillpe.grading.common import leave_now
from drillpe.launch import lifeline

judge.lost_believable = lambda device: True
lifeline.tie()
leave_now(judge.main())  # as the real judge leaves
