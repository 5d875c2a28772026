"""drillpe's learner process, told that CUDA became unusable after one case.

A device-side assert (an index out of range inside a CUDA kernel) happens only
on a GPU; this stands in for it on any machine. LOST_AFTER_FOR_TEST names the
case as CHECK_ID:CASE_INDEX (not DRILLPE_*: the sandbox strips those).
"""

import os

from drillpe.grading import learner

TARGET = os.environ["LOST_AFTER_FOR_TEST"]


# The case whose inputs were built last is the one that just ran (not read from the
# loop's frame: under the guard, frames are refused while learner code can run).
current = {}
real_case_inputs = learner.case_inputs


def case_inputs(check, case_index, *args):
    current["case"] = f"{check.id}:{case_index}"
    return real_case_inputs(check, case_index, *args)


def device_alive(device):
    return current.get("case") != TARGET


learner.case_inputs = case_inputs
learner.device_alive = device_alive
learner.leave_now(learner.main())
