"""The nonconformity register (不合格台账; 000 4.3.4 item 6, 001 5.3.5, 003 III(6)): every
nonconforming result, from the lab's judgement or the platform's recomputation, tracked from
the moment it is found to its handling."""
