"""What an operator does with a target beside publishing: roll it back to a generation,
verify it against the state.
"""
