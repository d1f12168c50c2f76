"""train-streams: TSN training of the spatial and temporal networks on a frames store."""
