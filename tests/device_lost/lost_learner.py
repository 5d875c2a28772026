"""drillpe's learner process, told that CUDA became unusable after one case.

A device-side assert (an index out of range inside a CUDA kernel) happens only
on a GPU; this stands in for it on any machine. LOST_AFTER_FOR_TEST names the
case as CHECK_ID:CASE_INDEX (not DRILLPE_*: the sandbox strips those).
"""

import os
import sys

from drillpe.grading import learner

TARGET = os.environ["LOST_AFTER_FOR_TEST"]


def device_alive(device):
    caller = sys._getframe(1).f_locals  # the learner's loop: its check and case
    return f"{caller['check'].id}:{caller['case_index']}" != TARGET


learner.device_alive = device_alive
learner.leave_now(learner.main())
