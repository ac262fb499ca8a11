"""What every stage uses: the user's error, files written atomically and their digests, arrays,
the contract of the files the stages exchange, and the identity of the code and the machine.
Imports no stage and no torch."""
