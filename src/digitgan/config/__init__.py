"""What a run is asked to do: TrainConfig, whose fields declare each setting once (help, flag
group, choices, range), and the presets.
"""
