"""int8 quantization of HPUN (PTQ and QAT, PT2E per target): issue 4. Nothing here yet."""
