"""What a run of a scenario needs whichever face runs it: the arrivals the simulator draws and the
lab replays, the sysctls each namespace gets, and the RunResult both return (DESIGN.md: "sim and
lab take the same scenario and return the same RunResult"). sim/ and lab/ import this, never
each other, so a fidelity diff compares two faces of one definition."""
