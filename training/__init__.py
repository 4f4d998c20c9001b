"""Training pipeline for the dualrs Fashion-MNIST model zoo (see training/README.md)."""
