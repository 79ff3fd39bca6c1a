"""Small shared values for tests (tiny model overrides)."""

TINY = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]", "model.num_heads=1"]
