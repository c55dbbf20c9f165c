"""Construction projects (工程项目), their site geofence, parties, witnesses and samplers."""
