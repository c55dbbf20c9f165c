"""The qualification catalogue (资质目录): specialty > test item > parameter, and the minimum
staffing, equipment and premises each specialty requires. Data, editable by the provincial
authority, seeded from the 2023 qualification standard."""
