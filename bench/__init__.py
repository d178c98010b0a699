"""Speed and memory measurements, as ratios within one run (`make bench`)."""
