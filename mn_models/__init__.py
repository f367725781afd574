"""mn models: recognizer (ViCLIP-style), policy (ARP-style), mirror-neuron alignment, trainer. ROS-free."""
