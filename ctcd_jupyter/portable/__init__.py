"""A notebook pipeline beyond the kernel: exported as one readable file (`export`, with the
notebook names it reads resolved by `resolve`), run anywhere (`runfile`), and its runs on a
shared MLflow tracking server read back (`remote`). Prefect is `ctcd_jupyter.prefect`."""
