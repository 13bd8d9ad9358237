"""Client side of Segue: plans -> API prompts -> ComfyUI /prompt, with resume and several servers. Never imports torch."""
