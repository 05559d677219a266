"""What the labels and maps mean clinically: indices, review queue, click refinement, report, pictures."""
