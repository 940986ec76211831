"""Schools, classrooms, students and families: the roster every other feature is scoped by."""
