"""Video supervision (视频监控): cameras of labs and sites, recording into hash-chained segments,
live preview and replay, clips and snapshots, and the rules on coverage (000 4.3.4(7);
001 4.2.1, 4.2.2.2; 002 7(9); 003 II)."""
