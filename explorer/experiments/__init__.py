"""The Experiments: depth (signal through a deep stack), training steps and batch size
(BatchNorm over time), and weight normalizations: views (the *_view modules, Qt), what they
compute and write (runs, no Qt) and their headless commands (cli, no Qt)."""
