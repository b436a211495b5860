"""A run folder and what is in it: its numbered folder, logs and stats, checkpoints
(safetensors), pictures.
"""
